import numpy as np

DEGREE = 1


def fit_predict(x, y, x_test):
    return np.polyval(np.polyfit(x, y, DEGREE), x_test)
