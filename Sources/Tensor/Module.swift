/// The `Tensor` module of Tessera.
public enum TensorModule {}
