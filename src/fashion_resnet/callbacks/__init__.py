"""Lightning callbacks: TensorBoard numbers and pictures, the divergence stop, interrupt safety."""
