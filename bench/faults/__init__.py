"""Fault tests of the running product (``make faults``): see ``bench/faults/run.py``."""
