"""Autograder for Exercise 4: Convolutional Neural Networks."""

__version__ = "0.1.0"
