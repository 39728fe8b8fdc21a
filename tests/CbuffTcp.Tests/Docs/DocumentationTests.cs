using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Docs;

/// <summary>
/// The code the documentation shows is code this suite compiles and runs: README.md's protocol and handler
/// (ReadmeSample.cs) and docs/testing.md's example (TestingDocExample.cs), each word for word.
/// </summary>
public class DocumentationTests
{
    [Theory]
    [InlineData("README.md", "ReadmeSample.cs", "README sample")]
    [InlineData("docs/testing.md", "TestingDocExample.cs", "docs/testing.md example")]
    public void The_page_shows_the_code_the_suite_runs(string page, string source, string marker)
    {
        var code = File.ReadAllText(RepositoryFiles.PathOf("tests", "CbuffTcp.Tests", "Docs", source));
        var text = File.ReadAllText(RepositoryFiles.PathOf(page.Split('/')));
        var example = Between(code, $"// {marker} begins\n", $"// {marker} ends");

        Assert.Contains("```csharp\n" + example + "```", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_readme_handler_answers_through_its_connection()
    {
        await using var server = await InMemoryServer.StartAsync(new CommandProtocol(), new Doubler());
        using var client = server.Connect();

        await client.SendAsync(new Command(1, 21));
        Assert.Equal(new Command(1, 42), await client.ReceiveAsync());

        await client.SendAsync(new Command(11, 0)); // an unknown opcode: that client is closed
        Assert.Equal(ConnectionEnd.Closed, await client.WaitForEndAsync());
    }

    private static string Between(string text, string begin, string end)
    {
        var start = text.IndexOf(begin, StringComparison.Ordinal) + begin.Length;
        return text[start..text.IndexOf(end, start, StringComparison.Ordinal)];
    }
}
