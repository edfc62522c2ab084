# Generator of the expected values in tests/keras_fit_parity.rs (Keras 3.15.1, TF 2.21).
# Run: /work/.venv-ref/bin/python tests/keras_fit_parity.py
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras
from keras import layers
n=13
x = np.array([[np.sin(0.7*i+1.3*j) for j in range(4)] for i in range(n)], dtype="float32")
def weights(units_out, act):
    k1 = np.array([[0.1*(((i*3+j)%7)-3) for j in range(3)] for i in range(4)], "float32")
    b1 = np.array([0.05,-0.05,0.1], "float32")
    k2 = np.array([[0.2*(((i*2+j)%5)-2) for j in range(units_out)] for i in range(3)], "float32")
    b2 = np.array([0.01*(j+1) for j in range(units_out)], "float32")
    return [k1,b1,k2,b2]
cases = {
 "sgd": lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
 "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=0.01, centered=True, momentum=0.5),
 "adam": lambda: keras.optimizers.Adam(learning_rate=0.01, clipnorm=0.5),
}
for task in ["binary","sparse"]:
    units = 1 if task=="binary" else 2
    act = "sigmoid" if task=="binary" else "softmax"
    y = np.array([float(i%3==0) for i in range(n)],"float32") if task=="binary" else np.array([i%2 for i in range(n)],"int32")
    loss = "binary_crossentropy" if task=="binary" else "sparse_categorical_crossentropy"
    for name, opt in cases.items():
        m = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(units, activation=act)])
        m.set_weights(weights(units, act))
        m.compile(optimizer=opt(), loss=loss, metrics=["accuracy"])
        h = m.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
        w = m.get_weights()
        print(f"// {task} {name}")
        print("loss:", [float(v) for v in h.history["loss"]])
        print("acc:", [float(v) for v in h.history["accuracy"]])
        print("w:", [list(map(float, a.ravel())) for a in w])
