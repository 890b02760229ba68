"""Tests of the component families and their distributions."""

#: (parameter shape, value shape) pairs of a diagonal location-scale density: which of them
#: take the matrix products and which the direct formula.
LOC_VALUE_SHAPES = [
    ((7, 1, 5), (11, 5)),  # enumerated components against a batch of codes
    ((7, 1, 1, 5), (3, 11, 5)),  # and against particles x batch
    ((1, 7, 5), (11, 1, 5)),  # the other way round
    ((7, 5), (7, 5)),  # one component per code: the direct formula
    ((5,), (11, 5)),  # one component
    ((7, 11, 5), (11, 5)),  # a shared dimension: the direct formula
]
