using System.CommandLine;
using System.Net;
using Scheduler.Config;
using Scheduler.Fleet;
using Scheduler.Metrics;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler status [--config FILE | --url http://host:port] [--json]</c>: asks a running node's <c>listen_address</c> for
/// <c>/fleet</c> and prints every member with its jobs (a table, or the JSON document with <c>--json</c>).
/// Exit codes: 0 answered, 1 the node did not answer, 2 no usable address.
/// </summary>
internal static class StatusCommand
{
    public const int UnreachableExitCode = 1;
    public const int InvalidExitCode = 2;

    internal static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "A node's config.toml: its listen_address is asked" };
        var url = new Option<string?>("--url") { Description = "A node's listen_address as a URL, e.g. http://127.0.0.1:9252" };
        var json = new Option<bool>("--json") { Description = "Print the /fleet JSON document instead of a table" };
        var command = new Command("status", "Show the fleet: every runner node, its state, and the jobs it runs");
        command.Options.Add(config);
        command.Options.Add(url);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            return await RunAsync(parse.GetValue(config), parse.GetValue(url), parse.GetValue(json), http,
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct);
        });
        return command;
    }

    internal static async Task<int> RunAsync(string? configPath, string? url, bool json, HttpClient http, TextWriter output,
        TextWriter error, CancellationToken ct)
    {
        var baseUrl = BaseUrl(configPath, url, out var problem);
        if (baseUrl is null)
        {
            await error.WriteLineAsync($"status: {problem}");
            return InvalidExitCode;
        }

        string body;
        try
        {
            using var response = await http.GetAsync(new Uri(baseUrl, "/fleet"), ct);
            body = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                await error.WriteLineAsync($"status: {baseUrl} answered {(int)response.StatusCode}: {body.Trim()}");
                return UnreachableExitCode;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"status: cannot reach {baseUrl}: {e.Message}");
            return UnreachableExitCode;
        }

        var status = FleetStatusJson.Parse(body, out var parseError);
        if (status is null)
        {
            await error.WriteLineAsync($"status: {baseUrl}: {parseError}");
            return UnreachableExitCode;
        }

        await output.WriteAsync(json ? FleetStatusJson.Serialize(status) + "\n" : StatusTable.Render(status));
        return 0;
    }

    /// <summary>The node to ask: <c>--url</c>, else the config's <c>listen_address</c> (all interfaces → loopback).</summary>
    internal static Uri? BaseUrl(string? configPath, string? url, out string problem)
    {
        problem = "";
        if (!string.IsNullOrEmpty(url))
        {
            if (Uri.TryCreate(url, UriKind.Absolute, out var given) && given.Scheme is "http" or "https")
            {
                return given;
            }

            problem = $"--url \"{url}\" is not an http:// URL";
            return null;
        }

        if (string.IsNullOrEmpty(configPath))
        {
            problem = "give --config FILE or --url http://host:port";
            return null;
        }

        var loaded = ConfigLoader.LoadFile(configPath);
        if (loaded.Settings is not { } settings)
        {
            problem = $"{configPath} does not load: {string.Join("; ", loaded.Errors.Select(e => e.ToString()))}";
            return null;
        }

        if (string.IsNullOrEmpty(settings.ListenAddress))
        {
            problem = $"{configPath} has no listen_address: the node serves no status";
            return null;
        }

        if (!MetricsEndpoint.TryParseListenAddress(settings.ListenAddress, out var endpoint, out var error))
        {
            problem = error;
            return null;
        }

        var host = endpoint.Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]"
            : endpoint.Address.ToString();
        return new Uri($"http://{host}:{endpoint.Port}");
    }
}
