"""Alerting: rules (cost_spike, budget, threshold), a per-key state machine, webhook delivery and
a scheduler that evaluates on exactly one replica (a lease in the store)."""
