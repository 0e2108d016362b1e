"""Dataset and batch-file inference: row readers, resumable result files, the job runner."""
