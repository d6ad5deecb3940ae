"""The orchestrator's engine: recipe loading, planning, scheduling and supervised step execution."""
