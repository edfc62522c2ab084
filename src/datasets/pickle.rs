//! A restricted pickle reader for numpy object arrays, the way Keras's
//! `npz_utils.RestrictedUnpickler` reads the IMDB and Reuters files.
//!
//! Nothing is ever executed or imported: the only globals recognised are
//! `numpy.ndarray`, `numpy.dtype` and `numpy.core.multiarray._reconstruct` /
//! `numpy._core.multiarray._reconstruct` (Keras's allow-list), plus
//! `numpy.core.multiarray.scalar` for integer and bool dtypes (a list built from a
//! numpy array, `list(np.array([...]))`, holds numpy integers, not Python ints, and
//! Keras's `np.load(allow_pickle=True)` reads them); `REDUCE`/`BUILD` are interpreted
//! only for those (array, dtype and scalar reconstruction). Every other
//! global, callable or opcode is an error naming it. All lengths are checked against
//! the input before anything is allocated, and nothing recurses, so arbitrary bytes
//! give an error, never a panic.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use super::dtype::{ByteOrder, Dtype};
use super::npy::{NpyArray, NpyData};

/// Deepest tuple nesting accepted (see `Unpickler::tuple`).
const MAX_TUPLE_DEPTH: u32 = 64;

/// Why a pickle stream was refused, with the byte offset of the opcode at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for PickleError {}

/// The globals Keras's restricted unpickler allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    Ndarray,
    DtypeType,
    Reconstruct,
    Scalar,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("numpy", "ndarray") => Some(Global::Ndarray),
            ("numpy", "dtype") => Some(Global::DtypeType),
            ("numpy.core.multiarray", "_reconstruct")
            | ("numpy._core.multiarray", "_reconstruct") => Some(Global::Reconstruct),
            ("numpy.core.multiarray", "scalar") | ("numpy._core.multiarray", "scalar") => {
                Some(Global::Scalar)
            }
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Global::Ndarray => "numpy.ndarray",
            Global::DtypeType => "numpy.dtype",
            Global::Reconstruct => "numpy.core.multiarray._reconstruct",
            Global::Scalar => "numpy.core.multiarray.scalar",
        }
    }
}

/// A value on the unpickler's stack. Mutable containers (lists, arrays, dtypes)
/// live in arenas and are referred to by index, so memo references share them as
/// Python does, without reference cycles.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float,
    Bytes(Rc<[u8]>),
    Str(Rc<str>),
    /// Items and nesting depth (1 for a tuple holding no tuple).
    Tuple(Rc<[Value]>, u32),
    List(usize),
    Global(Global),
    Dtype(usize),
    Array(usize),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float => "float",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::Tuple(..) => "tuple",
            Value::List(_) => "list",
            Value::Global(_) => "global",
            Value::Dtype(_) => "numpy.dtype",
            Value::Array(_) => "numpy.ndarray",
        }
    }
}

/// A Python list. Lists of plain ints (the whole content of the dataset files) are
/// kept unboxed, which saves memory and time on the 12 million ids of IMDB.
#[derive(Debug)]
enum List {
    Ints(Vec<i64>),
    Values(Vec<Value>),
}

impl List {
    fn push(&mut self, v: Value) {
        match (self, v) {
            (List::Ints(ints), Value::Int(i)) => ints.push(i),
            (list @ List::Ints(_), v) => {
                let List::Ints(ints) = std::mem::replace(list, List::Values(Vec::new())) else {
                    unreachable!("matched List::Ints above")
                };
                let mut values: Vec<Value> = ints.into_iter().map(Value::Int).collect();
                values.push(v);
                *list = List::Values(values);
            }
            (List::Values(values), v) => values.push(v),
        }
    }

    fn len(&self) -> usize {
        match self {
            List::Ints(v) => v.len(),
            List::Values(v) => v.len(),
        }
    }
}

#[derive(Debug)]
struct DtypeObj {
    descr: String,
    order: ByteOrder,
}

/// An ndarray under reconstruction: created by `_reconstruct`, filled by `BUILD`.
#[derive(Debug)]
struct ArrayObj {
    shape: Vec<usize>,
    dtype: Option<usize>,
    data: ArrayPayload,
}

#[derive(Debug)]
enum ArrayPayload {
    Empty,
    Raw(Rc<[u8]>),
    Objects(usize),
}

/// Names of all pickle opcodes, so a refused one is named in the error.
fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_start: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    lists: Vec<List>,
    dtypes: Vec<DtypeObj>,
    arrays: Vec<ArrayObj>,
}

type PResult<T> = Result<T, PickleError>;

impl<'a> Unpickler<'a> {
    fn err<T>(&self, reason: impl Into<String>) -> PResult<T> {
        Err(PickleError {
            offset: self.op_start,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        let data: &'a [u8] = self.data;
        match self.pos.checked_add(n) {
            Some(end) if end <= data.len() => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(format!(
                "stream ends inside an opcode (needs {n} more bytes, {} left)",
                data.len() - self.pos
            )),
        }
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> PResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> PResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> PResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len_u64(&mut self) -> PResult<usize> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err(format!("length {n} is too large")))
    }

    /// A text line of the protocol-0 opcodes, without its newline.
    fn line(&mut self) -> PResult<&'a str> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("stream ends inside a text line");
        };
        self.pos += nl + 1;
        match std::str::from_utf8(&rest[..nl]) {
            Ok(s) => Ok(s),
            Err(_) => self.err("text line is not valid UTF-8"),
        }
    }

    fn pop(&mut self) -> PResult<Value> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn top_mut(&mut self) -> PResult<&mut Value> {
        if self.stack.is_empty() {
            return self.err("stack underflow");
        }
        Ok(self.stack.last_mut().expect("checked non-empty"))
    }

    fn pop_mark(&mut self) -> PResult<Vec<Value>> {
        let Some(mark) = self.marks.pop() else {
            return self.err("no MARK on the stack");
        };
        if mark > self.stack.len() {
            return self.err("MARK is above the stack top");
        }
        Ok(self.stack.split_off(mark))
    }

    fn push_str(&mut self, bytes: &[u8]) -> PResult<()> {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                self.stack.push(Value::Str(Rc::from(s)));
                Ok(())
            }
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        self.stack.push(Value::Bytes(Rc::from(bytes)));
    }

    fn memo_put(&mut self, key: u64) -> PResult<()> {
        let v = match self.stack.last() {
            Some(v) => v.clone(),
            None => return self.err("memo store with an empty stack"),
        };
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> PResult<()> {
        match self.memo.get(&key) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.err(format!("memo key {key} was never stored")),
        }
    }

    fn list_mut(&mut self, v: &Value) -> PResult<&mut List> {
        match v {
            Value::List(id) => Ok(&mut self.lists[*id]),
            other => self.err(format!("APPEND to a {}, not a list", other.kind())),
        }
    }

    /// APPENDS: moves the items above the last MARK into the list below it. The
    /// hot path of the dataset files (batches of up to 1000 ints) copies straight
    /// from the stack, with no intermediate allocation.
    fn appends(&mut self) -> PResult<()> {
        let Some(mark) = self.marks.pop() else {
            return self.err("no MARK on the stack");
        };
        if mark == 0 || mark > self.stack.len() {
            return self.err("APPENDS without a list below its MARK");
        }
        let id = match &self.stack[mark - 1] {
            Value::List(id) => *id,
            other => return self.err(format!("APPEND to a {}, not a list", other.kind())),
        };
        let items = &self.stack[mark..];
        match &mut self.lists[id] {
            List::Ints(ints) if items.iter().all(|v| matches!(v, Value::Int(_))) => {
                ints.extend(items.iter().map(|v| match v {
                    Value::Int(i) => *i,
                    _ => 0,
                }));
                self.stack.truncate(mark);
            }
            list => {
                for v in self.stack.drain(mark..) {
                    list.push(v);
                }
            }
        }
        Ok(())
    }

    /// A tuple of `items`, refused past `MAX_TUPLE_DEPTH` levels of nesting: numpy's
    /// pickles nest three deep, and dropping (or printing) a value recurses once per
    /// level, so 300 KB of nested tuples would otherwise overflow the stack.
    fn tuple(&self, items: Vec<Value>) -> PResult<Value> {
        let inner = items
            .iter()
            .map(|v| match v {
                Value::Tuple(_, d) => *d,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if inner >= MAX_TUPLE_DEPTH {
            return self.err(format!(
                "tuples nested more than {MAX_TUPLE_DEPTH} deep (a numpy array pickle \
                 nests 3)"
            ));
        }
        Ok(Value::Tuple(Rc::from(items), inner + 1))
    }

    fn global(&mut self, module: &str, name: &str) -> PResult<()> {
        match Global::resolve(module, name) {
            Some(g) => {
                self.stack.push(Value::Global(g));
                Ok(())
            }
            None => self.err(format!(
                "global `{module}.{name}` is not allowed (only numpy.ndarray, numpy.dtype, \
                 numpy multiarray._reconstruct and integer numpy scalars are read)"
            )),
        }
    }

    fn run(mut self) -> PResult<NpyArray> {
        loop {
            self.op_start = self.pos;
            let op = match self.data.get(self.pos) {
                Some(&op) => op,
                None => return self.err("stream ends without STOP"),
            };
            self.pos += 1;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return self.err(format!("unsupported pickle protocol {proto}"));
                    }
                }
                0x95 => {
                    // FRAME only announces the size of what follows.
                    self.u64()?;
                }
                b'.' => {
                    let v = self.pop()?;
                    return self.finish(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top_mut()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    let v = self.long_from_le(bytes)?;
                    self.stack.push(Value::Int(v));
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    let Ok(n) = usize::try_from(n) else {
                        return self.err("LONG4 with a negative length");
                    };
                    let bytes = self.take(n)?;
                    let v = self.long_from_le(bytes)?;
                    self.stack.push(Value::Int(v));
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        _ => match line.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            Err(_) => return self.err(format!("bad INT literal {line:?}")),
                        },
                    };
                    self.stack.push(v);
                }
                b'L' => {
                    let line = self.line()?;
                    let digits = line.strip_suffix('L').unwrap_or(line);
                    match digits.parse::<i64>() {
                        Ok(i) => self.stack.push(Value::Int(i)),
                        Err(_) => {
                            return self.err(format!("bad or too large LONG literal {line:?}"));
                        }
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let _ = f64::from_be_bytes(a);
                    self.stack.push(Value::Float);
                }
                b'F' => {
                    let line = self.line()?;
                    match line.parse::<f64>() {
                        Ok(_) => self.stack.push(Value::Float),
                        Err(_) => return self.err(format!("bad FLOAT literal {line:?}")),
                    }
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.push_bytes(b);
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push_bytes(b);
                }
                0x8e => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    self.push_bytes(b);
                }
                // Python 2 byte strings; numpy's raw array data in old pickles.
                b'U' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.push_bytes(b);
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    let Ok(n) = usize::try_from(n) else {
                        return self.err("BINSTRING with a negative length");
                    };
                    let b = self.take(n)?;
                    self.push_bytes(b);
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.push_str(b)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push_str(b)?;
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    self.push_str(b)?;
                }
                b']' => {
                    self.lists.push(List::Ints(Vec::new()));
                    self.stack.push(Value::List(self.lists.len() - 1));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let mut list = List::Ints(Vec::new());
                    for v in items {
                        list.push(v);
                    }
                    self.lists.push(list);
                    self.stack.push(Value::List(self.lists.len() - 1));
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top_mut()?.clone();
                    self.list_mut(&target)?.push(v);
                }
                b'e' => self.appends()?,
                b')' => self.stack.push(Value::Tuple(Rc::from(Vec::new()), 1)),
                b't' => {
                    let items = self.pop_mark()?;
                    let t = self.tuple(items)?;
                    self.stack.push(t);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return self.err("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let t = self.tuple(items)?;
                    self.stack.push(t);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&module, &name) {
                        (Value::Str(m), Value::Str(n)) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.global(&m, &n)?;
                        }
                        _ => {
                            return self.err(format!(
                                "STACK_GLOBAL needs two strings, found {} and {}",
                                module.kind(),
                                name.kind()
                            ));
                        }
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top_mut()?.clone();
                    self.build(target, state)?;
                }
                b'p' => {
                    let line = self.line()?;
                    match line.parse::<u64>() {
                        Ok(k) => self.memo_put(k)?,
                        Err(_) => return self.err(format!("bad PUT key {line:?}")),
                    }
                }
                b'q' => {
                    let k = u64::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = u64::from(self.u32()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let line = self.line()?;
                    match line.parse::<u64>() {
                        Ok(k) => self.memo_get(k)?,
                        Err(_) => return self.err(format!("bad GET key {line:?}")),
                    }
                }
                b'h' => {
                    let k = u64::from(self.u8()?);
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = u64::from(self.u32()?);
                    self.memo_get(k)?;
                }
                other => {
                    return match opcode_name(other) {
                        Some(name) => self.err(format!(
                            "opcode {name} (0x{other:02x}) is not supported in a numpy array pickle"
                        )),
                        None => self.err(format!("unknown opcode 0x{other:02x}")),
                    };
                }
            }
        }
    }

    /// A little-endian two's-complement integer of any length, as LONG1/LONG4 store.
    fn long_from_le(&self, bytes: &[u8]) -> PResult<i64> {
        if bytes.is_empty() {
            return Ok(0);
        }
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let fill = if negative { 0xff } else { 0 };
        // Bytes beyond the 8th must be pure sign extension for the value to fit.
        if bytes.len() > 8 {
            let extra = &bytes[8..];
            if extra.iter().any(|&b| b != fill) || ((bytes[7] & 0x80 != 0) != negative) {
                return self.err("integer does not fit in 64 bits");
            }
        }
        let mut buf = [fill; 8];
        let n = bytes.len().min(8);
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(i64::from_le_bytes(buf))
    }

    fn reduce(&mut self, callable: Value, args: Value) -> PResult<Value> {
        let Value::Tuple(args, _) = args else {
            return self.err(format!(
                "REDUCE arguments are a {}, not a tuple",
                args.kind()
            ));
        };
        match callable {
            Value::Global(Global::Reconstruct) => {
                // _reconstruct(ndarray, shape, b'b'): an empty array BUILD will fill.
                match args.first() {
                    Some(Value::Global(Global::Ndarray)) if args.len() == 3 => {}
                    _ => return self.err(
                        "_reconstruct is only read as _reconstruct(numpy.ndarray, shape, dtype)",
                    ),
                }
                self.arrays.push(ArrayObj {
                    shape: Vec::new(),
                    dtype: None,
                    data: ArrayPayload::Empty,
                });
                Ok(Value::Array(self.arrays.len() - 1))
            }
            Value::Global(Global::DtypeType) => {
                let descr = match args.first() {
                    Some(Value::Str(s)) => s.to_string(),
                    Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => {
                        return self
                            .err("numpy.dtype is only read as dtype(type string, align, copy)");
                    }
                };
                self.dtypes.push(DtypeObj {
                    descr,
                    order: ByteOrder::Little,
                });
                Ok(Value::Dtype(self.dtypes.len() - 1))
            }
            Value::Global(Global::Scalar) => match (args.first(), args.get(1)) {
                (Some(Value::Dtype(d)), Some(Value::Bytes(b))) if args.len() == 2 => {
                    self.scalar(*d, b)
                }
                _ => self.err("numpy scalar is only read as scalar(dtype, bytes)"),
            },
            Value::Global(g) => self.err(format!("REDUCE on `{}` is not supported", g.name())),
            other => self.err(format!("REDUCE on a {} is not supported", other.kind())),
        }
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)` of an integer or bool dtype, as a
    /// Python int; a float scalar becomes a float (refused later where ids are read).
    fn scalar(&self, dtype: usize, bytes: &[u8]) -> PResult<Value> {
        let d = &self.dtypes[dtype];
        let descr = d.descr.trim_start_matches(['<', '>', '|', '=']);
        let (kind, width) = descr.split_at(descr.len().min(1));
        let width: usize = match width.parse() {
            Ok(w @ (1 | 2 | 4 | 8)) if w == bytes.len() => w,
            _ => {
                return self.err(format!(
                    "numpy scalar of dtype '{}' with {} bytes is not supported",
                    d.descr,
                    bytes.len()
                ));
            }
        };
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(bytes);
        if d.order == ByteOrder::Big {
            le[..width].reverse();
        }
        let raw = u64::from_le_bytes(le);
        match kind {
            "b" | "u" => i64::try_from(raw)
                .map(Value::Int)
                .or_else(|_| self.err(format!("numpy scalar {raw} does not fit in int64"))),
            "i" => self.long_from_le(&le[..width]).map(Value::Int),
            "f" => Ok(Value::Float),
            _ => self.err(format!(
                "numpy scalar of dtype '{}' is not supported",
                d.descr
            )),
        }
    }

    fn build(&mut self, target: Value, state: Value) -> PResult<()> {
        let Value::Tuple(state, _) = state else {
            return self.err(format!("BUILD state is a {}, not a tuple", state.kind()));
        };
        match target {
            Value::Dtype(id) => {
                // numpy dtype state: (version, byteorder, subarray, names, fields,
                // elsize, alignment, flags[, metadata]).
                if state.len() < 5 {
                    return self.err("numpy.dtype state is too short");
                }
                let order = match &state[1] {
                    Value::Str(s) if &**s == "<" || &**s == "|" || &**s == "=" => ByteOrder::Little,
                    Value::Str(s) if &**s == ">" => ByteOrder::Big,
                    other => {
                        return self.err(format!("numpy.dtype byte order is a {}", other.kind()));
                    }
                };
                if state[2..5].iter().any(|v| !matches!(v, Value::None)) {
                    return self.err(format!(
                        "unsupported dtype '{}' (sub-array or structured)",
                        self.dtypes[id].descr
                    ));
                }
                self.dtypes[id].order = order;
                Ok(())
            }
            Value::Array(id) => {
                // ndarray.__setstate__((version,) shape, dtype, is_fortran, data).
                let s: &[Value] = match state.len() {
                    5 => &state[1..],
                    4 => &state[..],
                    n => return self.err(format!("numpy.ndarray state has {n} items")),
                };
                let shape = self.shape(&s[0])?;
                let Value::Dtype(dtype) = s[1] else {
                    return self.err(format!("numpy.ndarray dtype is a {}", s[1].kind()));
                };
                let fortran = match s[2] {
                    Value::Bool(b) => b,
                    Value::Int(i) => i != 0,
                    ref other => return self.err(format!("is_fortran is a {}", other.kind())),
                };
                if fortran && shape.len() > 1 {
                    return self.err(
                        "Fortran-ordered arrays of more than one dimension are not supported",
                    );
                }
                let data = match &s[3] {
                    Value::Bytes(b) => ArrayPayload::Raw(b.clone()),
                    Value::List(list) => ArrayPayload::Objects(*list),
                    other => return self.err(format!("numpy.ndarray data is a {}", other.kind())),
                };
                let arr = &mut self.arrays[id];
                arr.shape = shape;
                arr.dtype = Some(dtype);
                arr.data = data;
                Ok(())
            }
            other => self.err(format!("BUILD on a {} is not supported", other.kind())),
        }
    }

    fn shape(&self, v: &Value) -> PResult<Vec<usize>> {
        let Value::Tuple(items, _) = v else {
            return self.err(format!("array shape is a {}, not a tuple", v.kind()));
        };
        let mut shape = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item {
                Value::Int(i) if *i >= 0 => shape.push(*i as usize),
                Value::Int(i) => return self.err(format!("bad array dimension {i}")),
                other => return self.err(format!("array dimension is a {}", other.kind())),
            }
        }
        Ok(shape)
    }

    fn element_count(&self, shape: &[usize]) -> PResult<usize> {
        shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .map_or_else(|| self.err("array shape overflows"), Ok)
    }

    /// Converts a built numeric array (top level or an object array item) to ints.
    fn numeric(&self, id: usize) -> PResult<(Vec<usize>, Vec<i64>)> {
        let arr = &self.arrays[id];
        let Some(dtype_id) = arr.dtype else {
            return self.err("numpy.ndarray was never filled by BUILD");
        };
        let d = &self.dtypes[dtype_id];
        let dtype = Dtype::parse(&d.descr, d.order).or_else(|e| self.err(e))?;
        let count = self.element_count(&arr.shape)?;
        match &arr.data {
            ArrayPayload::Raw(bytes) if dtype != Dtype::Object => {
                let ints = dtype.decode(bytes, count).or_else(|e| self.err(e))?;
                Ok((arr.shape.clone(), ints))
            }
            _ => self.err(format!("array data does not match its dtype '{}'", d.descr)),
        }
    }

    /// The value at STOP must be an ndarray: numeric, or an object array whose items
    /// are all integer sequences (the ragged layout of the Keras datasets).
    fn finish(&self, v: Value) -> PResult<NpyArray> {
        let Value::Array(id) = v else {
            return self.err(format!("pickle holds a {}, not a numpy array", v.kind()));
        };
        let arr = &self.arrays[id];
        let Some(dtype_id) = arr.dtype else {
            return self.err("numpy.ndarray was never filled by BUILD");
        };
        let d = &self.dtypes[dtype_id];
        let dtype = Dtype::parse(&d.descr, d.order).or_else(|e| self.err(e))?;
        if dtype != Dtype::Object {
            let (shape, ints) = self.numeric(id)?;
            return Ok(NpyArray {
                shape,
                data: NpyData::Int(ints),
            });
        }
        let ArrayPayload::Objects(list_id) = arr.data else {
            return self.err("object array data is not a list");
        };
        let count = self.element_count(&arr.shape)?;
        let items = &self.lists[list_id];
        if items.len() != count {
            return self.err(format!(
                "object array of shape {:?} holds {} items",
                arr.shape,
                items.len()
            ));
        }
        // Shared references could expand a small file into a huge result; every
        // genuine integer costs at least one byte of input, so cap the total there.
        let mut budget = self.data.len();
        let mut out = Vec::with_capacity(count);
        let values: &[Value] = match items {
            List::Ints(ints) if ints.is_empty() => &[],
            List::Ints(_) => return self.err("object array items are ints, not sequences"),
            List::Values(v) => v,
        };
        for (i, item) in values.iter().enumerate() {
            let seq = self
                .sequence(item)
                .or_else(|e| self.err(format!("object array item {i}: {}", e.reason)))?;
            if seq.len() > budget {
                return self.err("object array items share data beyond the file's size");
            }
            budget -= seq.len();
            out.push(seq);
        }
        Ok(NpyArray {
            shape: arr.shape.clone(),
            data: NpyData::Sequences(out),
        })
    }

    fn sequence(&self, item: &Value) -> PResult<Vec<i64>> {
        let from_values = |values: &[Value]| -> PResult<Vec<i64>> {
            values
                .iter()
                .enumerate()
                .map(|(j, v)| match v {
                    Value::Int(i) => Ok(*i),
                    other => self.err(format!("element {j} is a {}, not an int", other.kind())),
                })
                .collect()
        };
        match item {
            Value::List(id) => match &self.lists[*id] {
                List::Ints(ints) => Ok(ints.clone()),
                List::Values(values) => from_values(values),
            },
            Value::Tuple(values, _) => from_values(values),
            Value::Array(id) => {
                let (shape, ints) = self.numeric(*id)?;
                if shape.len() != 1 {
                    return self.err(format!("item is an array of shape {shape:?}, not 1-D"));
                }
                Ok(ints)
            }
            other => self.err(format!(
                "item is a {}, not a sequence of ints",
                other.kind()
            )),
        }
    }
}

/// Reads one pickled numpy array (the data part of an object-dtype `.npy` member).
pub fn load_array(data: &[u8]) -> Result<NpyArray, PickleError> {
    Unpickler {
        data,
        pos: 0,
        op_start: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        lists: Vec::new(),
        dtypes: Vec::new(),
        arrays: Vec::new(),
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact bytes numpy 2.4 writes for `np.save` of
    /// `np.array([[1, 2, 300], [70000], [5]], dtype=object)` (after the .npy header).
    const NUMPY_OBJECT_ARRAY: &[u8] = b"\x80\x04\x95\xa2\x00\x00\x00\x00\x00\x00\x00\
\x8c\x16numpy._core.multiarray\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05numpy\x94\
\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94C\x01b\x94\x87\x94R\x94(K\x01K\x03\x85\x94h\x03\
\x8c\x05dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\
\xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94(]\x94(K\x01K\x02M,\x01e]\x94J\x70\x11\x01\x00a]\
\x94K\x05ae\x94t\x94b.";

    #[test]
    fn reads_numpy_object_array() {
        let arr = load_array(NUMPY_OBJECT_ARRAY).unwrap();
        assert_eq!(arr.shape, vec![3]);
        assert_eq!(
            arr.data,
            NpyData::Sequences(vec![vec![1, 2, 300], vec![70000], vec![5]])
        );
    }

    /// numpy 2.4's `np.save` of an object array whose lists hold numpy scalars
    /// (`[np.int64(5), np.int8(-3), np.uint16(500), np.bool_(True), np.int32(7)]`,
    /// `[np.int32(-70000), np.uint64(2**40)]`), as `list(np.array(...))` gives them.
    const NUMPY_SCALARS: &[u8] =
        b"\x80\x04\x95\xd4\x01\x00\x00\x00\x00\x00\x00\x8c\x16numpy._core.multiarray\x94\x8c\x0c_r\
econstruct\x94\x93\x94\x8c\x05numpy\x94\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94C\x01b\
\x94\x87\x94R\x94(K\x01K\x02\x85\x94h\x03\x8c\x05dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\
\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94(]\
\x94(h\x00\x8c\x06scalar\x94\x93\x94h\x0c\x8c\x02i8\x94\x89\x88\x87\x94R\x94(K\x03\x8c\
\x01<\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\x08\x05\x00\x00\x00\x00\x00\
\x00\x00\x94\x86\x94R\x94h\x15h\x0c\x8c\x02i1\x94\x89\x88\x87\x94R\x94(K\x03h\x10NNNJ\
\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\x01\xfd\x94\x86\x94R\x94h\x15h\x0c\x8c\x02\
u2\x94\x89\x88\x87\x94R\x94(K\x03h\x19NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\
\x02\xf4\x01\x94\x86\x94R\x94h\x15h\x0c\x8c\x02b1\x94\x89\x88\x87\x94R\x94(K\x03h\x10NNN\
J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\x01\x01\x94\x86\x94R\x94h\x15h\x0c\x8c\
\x02i4\x94\x89\x88\x87\x94R\x94(K\x03h\x19NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\
\x94bC\x04\x07\x00\x00\x00\x94\x86\x94R\x94e]\x94(h\x15h5C\x04\x90\xee\xfe\xff\x94\x86\
\x94R\x94h\x15h\x0c\x8c\x02u8\x94\x89\x88\x87\x94R\x94(K\x03h\x19NNNJ\xff\xff\xff\xffJ\
\xff\xff\xff\xffK\x00t\x94bC\x08\x00\x00\x00\x00\x00\x01\x00\x00\x94\x86\x94R\x94eet\x94\
b.";

    #[test]
    fn reads_lists_of_numpy_integer_scalars() {
        let arr = load_array(NUMPY_SCALARS).unwrap();
        assert_eq!(
            arr.data,
            NpyData::Sequences(vec![vec![5, -3, 500, 1, 7], vec![-70000, 1 << 40]])
        );
        for n in 0..NUMPY_SCALARS.len() {
            assert!(load_array(&NUMPY_SCALARS[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for n in 0..NUMPY_OBJECT_ARRAY.len() {
            assert!(load_array(&NUMPY_OBJECT_ARRAY[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn refuses_other_globals() {
        // Protocol 0 `os.system('echo hi')`.
        let evil = b"cos\nsystem\n(S'echo hi'\ntR.";
        let err = load_array(evil).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(err.reason.contains("`os.system` is not allowed"), "{err}");
        // STACK_GLOBAL builtins.eval.
        let evil = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        let err = load_array(evil).unwrap_err();
        assert!(
            err.reason.contains("`builtins.eval` is not allowed"),
            "{err}"
        );
    }

    #[test]
    fn refuses_reduce_on_allowed_but_wrong_callables() {
        // REDUCE of numpy.ndarray itself (a constructor call Keras's data never makes).
        let p = b"\x80\x04\x8c\x05numpy\x8c\x07ndarray\x93K\x01\x85R.";
        let err = load_array(p).unwrap_err();
        assert!(err.reason.contains("REDUCE on `numpy.ndarray`"), "{err}");
    }

    #[test]
    fn refuses_unsupported_opcodes_by_name() {
        let err = load_array(b"\x80\x04}.").unwrap_err();
        assert!(err.reason.contains("EMPTY_DICT"), "{err}");
        let err = load_array(b"\x80\x04\xff").unwrap_err();
        assert!(err.reason.contains("unknown opcode 0xff"), "{err}");
        let err = load_array(b"\x80\x04K\x01.").unwrap_err();
        assert!(err.reason.contains("not a numpy array"), "{err}");
    }

    #[test]
    fn long_integers() {
        let u = Unpickler {
            data: b"",
            pos: 0,
            op_start: 0,
            stack: vec![],
            marks: vec![],
            memo: HashMap::new(),
            lists: vec![],
            dtypes: vec![],
            arrays: vec![],
        };
        assert_eq!(u.long_from_le(&[]), Ok(0));
        assert_eq!(u.long_from_le(&[0xff]), Ok(-1));
        assert_eq!(u.long_from_le(&[0x00, 0x80, 0x00]), Ok(0x8000));
        assert_eq!(u.long_from_le(&[0xff; 12]), Ok(-1));
        assert_eq!(
            u.long_from_le(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]),
            Ok(i64::MAX)
        );
        assert!(u.long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]).is_err());
        assert!(u.long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn shared_references_cannot_blow_up() {
        // An object array of 200 references to one 100-int list.
        let mut p = Vec::new();
        p.extend_from_slice(b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93");
        p.extend_from_slice(b"\x8c\x05numpy\x8c\x07ndarray\x93K\x00\x85C\x01b\x87R");
        p.extend_from_slice(
            b"(K\x01K\xc8\x85\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02O8\x89\x88\x87R",
        );
        p.extend_from_slice(b"(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89");
        p.extend_from_slice(b"](]");
        p.extend_from_slice(b"(");
        for _ in 0..100 {
            p.extend_from_slice(b"K\x07");
        }
        p.extend_from_slice(b"eq\x00");
        for _ in 0..199 {
            p.extend_from_slice(b"h\x00");
        }
        p.extend_from_slice(b"etb.");
        let err = load_array(&p).unwrap_err();
        assert!(err.reason.contains("beyond the file's size"), "{err}");
    }

    #[test]
    fn deep_tuple_nesting_is_an_error_not_a_stack_overflow() {
        // 300 KB of `)` then TUPLE1 (0x85): tuples nested 300 000 deep.
        let mut p = b"\x80\x02)".to_vec();
        p.extend(std::iter::repeat_n(0x85u8, 300_000));
        p.push(b'.');
        let err = load_array(&p).unwrap_err();
        assert!(err.reason.contains("nested more than 64"), "{err}");
        // The MARK ... TUPLE form too.
        let mut p = b"\x80\x02".to_vec();
        p.extend(std::iter::repeat_n(b'(', 100_000));
        p.extend(std::iter::repeat_n(b't', 100_000));
        p.push(b'.');
        let err = load_array(&p).unwrap_err();
        assert!(err.reason.contains("nested more than 64"), "{err}");
    }
}
