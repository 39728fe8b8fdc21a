using Microsoft.Extensions.Options;

namespace CbuffTcp.Hosting;

/// <summary>The options' attributes, checked by a validator the options source generator writes (no reflection).</summary>
[OptionsValidator]
internal sealed partial class CbuffTcpHostOptionsValidator : IValidateOptions<CbuffTcpHostOptions>;

/// <summary>
/// The rules attributes cannot state (timeouts positive or infinite, known enum values): the very checks the server
/// runs at start, run when the host starts, so a bad value fails there with every other options error.
/// </summary>
internal sealed class TcpServerOptionsRulesValidator : IValidateOptions<CbuffTcpHostOptions>
{
    public ValidateOptionsResult Validate(string? name, CbuffTcpHostOptions options)
    {
        try
        {
            options.Server.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail($"CbuffTcp:Server: {ex.Message}");
        }
    }
}
