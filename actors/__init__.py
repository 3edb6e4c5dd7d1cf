"""Behaviours: pure state machines over messages. They act only through their context."""
