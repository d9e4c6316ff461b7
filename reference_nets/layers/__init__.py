"""Reference layers, one short file each, all following the gradkit layer protocol."""

from reference_nets.layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from reference_nets.layers.base import Layer
from reference_nets.layers.batchnorm import BatchNorm
from reference_nets.layers.conv import Conv2D
from reference_nets.layers.dense import Dense
from reference_nets.layers.dropout import Dropout
from reference_nets.layers.flatten import Flatten
from reference_nets.layers.pool import MaxPool2D

__all__ = ["BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "LeakyReLU",
           "MaxPool2D", "ReLU", "Sigmoid", "Softmax", "Tanh"]
