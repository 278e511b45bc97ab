"""The paper's hyperparameters (Song et al., 2020, A.7.2), written once.

Every constructor default, the app's default run and the benchmarks take these names, so a
setting the paper fixes is stated in one place (tests/test_layers.py checks that the defaults
in the constructors' signatures are these values).
"""

NUM_PERTURBATIONS = 150  # P: outer directions per meta-step (antithetic pairs)
NUM_QUERIES = 20  # K: inner queries of the adaptation operator
SIGMA = 0.1  # outer and inner smoothing radius
INNER_STEP_SIZE = 0.05  # alpha: the adaptation step
OUTER_LEARNING_RATE = 0.01  # the outer SGD step
