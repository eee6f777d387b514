"""Offline evaluation of recommendation strategies against library baselines.

A temporal split of an order history (data), top-K lists from every method (strategies,
baselines), scored per task (metrics) with a paired bootstrap (bootstrap), tuned on a
validation cut and reported as a table and a chart (run, chart).
"""
