namespace CbuffTcp.Tests.Support;

/// <summary>Files of this repository, found from the test binaries (the directory holding CbuffTcp.slnx).</summary>
internal static class RepositoryFiles
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CbuffTcp.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException($"CbuffTcp.slnx is not above {AppContext.BaseDirectory}");
    }
}
