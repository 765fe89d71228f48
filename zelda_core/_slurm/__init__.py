"""``zelda run --slurm``: the run submitted as a SLURM job through submitit, one process
per GPU (or per ``tasks_per_node``) on each node, requeued and resumed on preemption or
time limit (docs/distributed.md, "SLURM")."""
