"""`keras.datasets`: `imdb` and `reuters`, read from Keras's cache folder
(`$KERAS_HOME/datasets`, else `~/.keras/datasets`), downloaded from Keras's storage
if missing, giving the same arrays as Keras's `load_data`.

A copy that does not match Keras's published hash is downloaded again, as Keras does;
to use a modified or synthetic copy in the cache as it is, set the environment variable
`RECURRENT_DATASETS_NO_HASH_CHECK=1`."""

from . import imdb, reuters

__all__ = ["imdb", "reuters"]
