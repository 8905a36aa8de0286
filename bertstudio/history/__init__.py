"""Runs you keep: every run of a folder with its status (records), side-by-side comparison (compare),
a self-contained HTML report (report), multi-seed training as a job (seeds_job), and their commands (cli)."""
