using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CbuffTcp.Cli;

/// <summary>Loads a server certificate with its private key from a PKCS#12 file or a PEM file (certificate and key in one file).</summary>
internal static class CertificateFile
{
    public static X509Certificate2 Load(string path, string? password)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no such file: {path}", path);
        }

        var isPem = File.ReadAllText(path).Contains("-----BEGIN", StringComparison.Ordinal);
        var certificate = isPem
            ? password is null ? X509Certificate2.CreateFromPemFile(path) : X509Certificate2.CreateFromEncryptedPemFile(path, password)
            : X509CertificateLoader.LoadPkcs12FromFile(path, password);
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CryptographicException($"{path} holds a certificate without its private key");
        }

        return certificate;
    }
}
