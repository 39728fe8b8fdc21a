using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.InMemory;

/// <summary>docs/testing.md shows the example that runs in this suite (TestingDocExample.cs), word for word.</summary>
public class TestingDocTests
{
    [Fact]
    public void The_testing_page_shows_the_example_the_suite_runs()
    {
        var source = File.ReadAllText(RepositoryFiles.PathOf("tests", "CbuffTcp.Tests", "InMemory", "TestingDocExample.cs"));
        var page = File.ReadAllText(RepositoryFiles.PathOf("docs", "testing.md"));
        var example = Between(source, "// docs/testing.md example begins\n", "// docs/testing.md example ends");

        Assert.Contains("```csharp\n" + example + "```", page, StringComparison.Ordinal);
    }

    private static string Between(string text, string begin, string end)
    {
        var start = text.IndexOf(begin, StringComparison.Ordinal) + begin.Length;
        return text[start..text.IndexOf(end, start, StringComparison.Ordinal)];
    }
}
