# Seed 003 ("순환 신경망 이해하기 - LSTM"): its cells in order, only the import lines
# changed (tensorflow -> recurrent). The `%%time` cell magic is IPython, not Python,
# and is left out.
from recurrent.keras.models import Sequential
from recurrent.keras.layers import Embedding, SimpleRNN
from recurrent.keras.layers import LSTM

from recurrent.keras.datasets import imdb
from recurrent.keras.layers import Dense
from recurrent.keras.preprocessing import sequence
import matplotlib.pyplot as plt

max_features = 10000 # 특성으로 사용할 단어의 수
maxlen = 500      # 텍스트의 길이(가장 빈번한 max_features 개의 단어만 사용합니다)
batch_size = 32 # 배치 데이터 사이즈

(input_train, y_train), (input_test, y_test) = imdb.load_data(num_words=max_features)
print(len(input_train), '훈련 시퀀스')
print(len(input_test), '테스트 시퀀스')
print(input_train[0], y_train[0])

# 리스트를 (samples, maxlen)크기의 2D 정수 텐서로 변환
print('시퀀스 패딩 (samples x time)')
print('input_train 크기:', input_train.shape)
print('input_test 크기:', input_test.shape)
input_train = sequence.pad_sequences(input_train, maxlen=maxlen)
input_test = sequence.pad_sequences(input_test, maxlen=maxlen)
print('input_train 크기:', input_train.shape)
print('input_test 크기:', input_test.shape)

model = Sequential()  
model.add(Embedding(max_features, 32))  
  
model.add(LSTM(32))  
model.add(Dense(1, activation='sigmoid'))

model.summary()

model.compile(optimizer='rmsprop',  
              loss='binary_crossentropy',  
              metrics=['acc'])

history = model.fit(input_train, y_train,
                    epochs=10,
                    batch_size=128,
                    validation_split=0.2)

model.evaluate(input_test, y_test)

acc = history.history['acc']
val_acc = history.history['val_acc']
loss = history.history['loss']
val_loss = history.history['val_loss']

epochs = range(1, len(acc) + 1)

# 정확도
plt.plot(epochs, acc, 'bo', label='Training acc')
plt.plot(epochs, val_acc, 'b', label='Validation acc')
plt.title('Training and validation accuracy')
plt.legend()

#
plt.figure()
plt.plot(epochs, loss, 'bo', label='Training loss')
plt.plot(epochs, val_loss, 'b', label='Validation loss')
plt.title('Training and validation loss')
plt.legend()

plt.show()
