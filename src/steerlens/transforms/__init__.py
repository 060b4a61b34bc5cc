"""Invertible image representations: complex steerable pyramid, Fourier, pixel, colour wrappers."""
