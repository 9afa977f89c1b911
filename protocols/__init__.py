"""Scan protocol checklists: data files and their Qt-free runner."""
