# Seed 001 ("LSTM(Long Short Term Memory)", reuters notebook): its cells in order,
# only the import lines changed (tensorflow -> recurrent).
import numpy as np
import matplotlib.pyplot as plt

from recurrent.keras import models, layers
from recurrent.keras.utils import to_categorical
from recurrent.keras.preprocessing import sequence
from recurrent.keras.datasets import reuters
from recurrent.keras.callbacks import EarlyStopping

# num_words 빈도수가 높은 단어만 출력하도록
(X_train, y_train), (X_test, y_test) = reuters.load_data(num_words=1000, 
                                                        test_split=0.2)

print(np.max(y_train) +1 )

print(len(X_train))

print(len(X_test))

# 기사가 숫자벡터로 변환된상태
print(X_train[0])

# 글자 수 100개로 고정
X_train = sequence.pad_sequences(X_train, maxlen=100)
X_test = sequence.pad_sequences(X_train, maxlen=100)

print(y_train[:5])

# 결과(카테고리)를 원핫인코딩으로 바꿔줌
y_train = to_categorical(y_train)
y_test = to_categorical(y_test)

print(y_train[:5])

model = models.Sequential()
model.add(layers.Embedding(1000, 100))
model.add(layers.LSTM(100, activation='tanh'))
model.add(layers.Dense(46, activation='softmax'))

model.summary()
