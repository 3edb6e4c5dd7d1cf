"""Market sources: replay of recorded venue feeds (the recordings ship in `data/`) and the synthetic
continuation of a recording.
"""

__all__ = ['data', 'recording_reader', 'replay', 'synthetic', 'unit_decode']
