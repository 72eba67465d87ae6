"""Monitoring: Prometheus metrics, system samples, their history, alert rules and webhooks.

Everything here runs in the live server's process, never in the training loop: training only
writes its records and relays its progress, as it did before monitoring existed.
"""
