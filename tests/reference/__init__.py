"""Independent reference models for differential testing of the engine."""
