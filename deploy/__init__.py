"""Define MobileNets, export them to ExecuTorch / Core ML, and drive the devices that run them."""
