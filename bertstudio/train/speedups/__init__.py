"""speedups"""
