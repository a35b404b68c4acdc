"""Build-time tools: integer tables, TFLite and Core ML export, model packages (needs the SDK)."""
