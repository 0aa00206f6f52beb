"""The study tools: the ``dlfs`` command, the concept registry, the parity harness and runner, ``dlfs show``
and the run reports. They stand on both backends (and call the experiments by name); nothing below them
imports them.
"""
