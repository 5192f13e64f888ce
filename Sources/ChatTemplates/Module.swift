/// The `ChatTemplates` module of Tessera.
public enum ChatTemplatesModule {}
