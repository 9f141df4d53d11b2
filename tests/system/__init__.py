"""System tests: the real `sportello` processes, from outside."""
