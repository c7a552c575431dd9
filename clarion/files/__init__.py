"""Reading what people write: files located by line and field, YAML and JSON read with bounds, and
text refused when it carries characters that do harm.
"""
