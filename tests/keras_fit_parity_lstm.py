# Generator of the expected values in tests/keras_fit_parity_lstm.rs (Keras 3.15.1, TF 2.21).
# Run: /work/.venv-ref/bin/python tests/keras_fit_parity_lstm.py
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from keras import layers

n, steps = 11, 6
x = np.array([[(i * 7 + t * 3) % 10 for t in range(steps)] for i in range(n)], "int32")
y = np.array([float(x[i, 0] > 4) for i in range(n)], "float32")

def init(shape, k):
    size = int(np.prod(shape))
    return np.array([0.3 * np.sin(0.37 * j + k) for j in range(size)], "float32").reshape(shape)

OPTS = {
    "adam": lambda: keras.optimizers.Adam(0.05),
    "rmsprop_clipnorm": lambda: keras.optimizers.RMSprop(0.01, clipnorm=0.05),
    "adam_global_clipnorm": lambda: keras.optimizers.Adam(0.05, global_clipnorm=0.1),
}
for rnn, opt in [("lstm", "adam"), ("gru", "adam"), ("simple_rnn", "adam"),
                 ("lstm", "rmsprop_clipnorm"), ("gru", "adam_global_clipnorm")]:
    cell = {"lstm": layers.LSTM(3), "gru": layers.GRU(3), "simple_rnn": layers.SimpleRNN(3)}[rnn]
    m = keras.Sequential([keras.Input((steps,), dtype="int32"), layers.Embedding(10, 4), cell,
                          layers.Dense(1, activation="sigmoid")])
    m.set_weights([init(w.shape, k) for k, w in enumerate(m.get_weights())])
    m.compile(optimizer=OPTS[opt](), loss="binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    print(rnn, opt)
    print([w.name for w in m.weights])
    print([float(v) for v in h.history["loss"]])
    print([list(map(float, w.ravel())) for w in m.get_weights()])
