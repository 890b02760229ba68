"""Tests of pyroclust.priors."""
