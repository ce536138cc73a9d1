"""One class per served model; each picks CUDA when the machine has it, else the CPU."""
