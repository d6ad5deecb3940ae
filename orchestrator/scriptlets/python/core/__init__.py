"""The scriptlet SDK: BaseScriptlet and its CLI harness, logging and resource tracking.

It imports `context.py`, never the engine, so a scriptlet runs the same on its own and under the runner.
"""
