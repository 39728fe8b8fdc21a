using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CbuffTcp.Tests.Support;

/// <summary>Self-signed certificates made at run time: a server's for "localhost", and a client's.</summary>
public static class TestCertificates
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private static readonly Lazy<X509Certificate2> LocalhostCertificate = new(() => Create("CN=localhost", ServerAuthentication));
    private static readonly Lazy<X509Certificate2> ClientCertificate = new(() => Create("CN=cbuff test client", ClientAuthentication));

    public static X509Certificate2 Localhost => LocalhostCertificate.Value;

    public static X509Certificate2 Client => ClientCertificate.Value;

    private static X509Certificate2 Create(string subject, string usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], critical: false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));

        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}
