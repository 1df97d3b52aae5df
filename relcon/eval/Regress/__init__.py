"""Regression evaluations (e.g. gait metrics from the wrist): the classification protocols with
continuous targets (N,) or (N, M), standardised on the training split and mapped back before
scoring with MAE, RMSE, Pearson r and R² (``relcon.eval.metrics.regression_metrics``)."""
