"""Many runs of one config at once, on Ray: seeds and settings as trials, results with intervals.

``plan`` turns the command line into trials; ``cluster`` starts or joins Ray; ``trial`` is what
one trial runs inside its Ray task (the single run's trainer, checkpoints, TensorBoard,
metrics and events, then greedy evaluation at env-step milestones); ``registry_link`` lets
trials on any node write the driver's registry; ``runner`` is the driver (scheduling, signals,
the shutdown order); ``results`` and ``stats`` aggregate across seeds; ``plot`` draws it.
"""
