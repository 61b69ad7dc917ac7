using System.Net;
using System.Net.Sockets;
using System.Text;
using Scheduler.GitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary><c>connection_max_age</c>: the GitLab client reuses a keep-alive connection while it is young and opens a new one
/// once it is older than the age.</summary>
public sealed class ConnectionMaxAgeTests : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _connections;

    public ConnectionMaxAgeTests()
    {
        _listener.Start();
        _ = AcceptAsync();
    }

    private string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";

    // A keep-alive HTTP/1.1 server that answers every request with 204 and counts the connections it accepted.
    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var buffer = new byte[4096];
            var pending = new StringBuilder();
            try
            {
                while (await stream.ReadAsync(buffer, _stop.Token) is > 0 and var read)
                {
                    pending.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    while (pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal) is >= 0 and var end)
                    {
                        pending.Remove(0, end + 4);
                        await stream.WriteAsync("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"u8.ToArray(), _stop.Token);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // the client closed it, or the test ended
            }
        }
    }

    [Fact]
    public async Task A_connection_is_reused_while_young_and_replaced_once_older_than_the_age()
    {
        using var http = GitLabHttp.CreateClient(connectionMaxAge: TimeSpan.FromSeconds(1));

        (await http.GetAsync(Url)).EnsureSuccessStatusCode();
        (await http.GetAsync(Url)).EnsureSuccessStatusCode();
        Assert.Equal(1, Volatile.Read(ref _connections));

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        (await http.GetAsync(Url)).EnsureSuccessStatusCode();
        Assert.Equal(2, Volatile.Read(ref _connections));
    }

    [Fact]
    public async Task With_the_default_age_the_connection_is_kept()
    {
        using var http = GitLabHttp.CreateClient();

        (await http.GetAsync(Url)).EnsureSuccessStatusCode();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        (await http.GetAsync(Url)).EnsureSuccessStatusCode();

        Assert.Equal(1, Volatile.Read(ref _connections));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        _stop.Dispose();
    }
}
