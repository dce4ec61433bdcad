"""gradcalc's command line: reads YAML, calls :mod:`gradcalc.core`, renders with Rich or JSON."""
