using System.Net;
using System.Net.Sockets;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>A local HTTP server whose answers a test writes (<see cref="Answer"/>), recording each request's path and
/// headers: for what the fake GitLab does not do (redirects to object storage, a body that breaks midway). The answer may
/// abort the response; the server then only drops the connection.</summary>
internal sealed class ScriptedHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _serving;

    public ScriptedHttpServer(string address = "127.0.0.1")
    {
        // A free port can be taken between the probe and the listener: a few tries.
        for (var attempt = 1; ; attempt++)
        {
            using (var probe = new TcpListener(IPAddress.Parse(address), 0))
            {
                probe.Start();
                Url = $"http://{address}:{((IPEndPoint)probe.LocalEndpoint).Port}/";
            }

            _listener.Prefixes.Clear();
            _listener.Prefixes.Add(Url);
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _serving = Task.Run(ServeAsync);
    }

    public string Url { get; }

    /// <summary>Writes the answer to a request; the second argument counts the requests from 1.</summary>
    public Action<HttpListenerContext, int> Answer { get; set; } = (_, _) => { };

    private readonly List<SeenRequest> _requests = [];

    public IReadOnlyList<SeenRequest> Requests
    {
        get { lock (_requests) { return _requests.ToArray(); } }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            int number;
            lock (_requests)
            {
                _requests.Add(new SeenRequest(context.Request.HttpMethod, context.Request.RawUrl ?? "", new WebHeaderCollection { context.Request.Headers }));
                number = _requests.Count;
            }

            try
            {
                // The request body is read whole (an upload), so that the client's send completes before the answer.
                await context.Request.InputStream.CopyToAsync(Stream.Null);
                Answer(context, number);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
            {
                // The answer aborted the connection, or the client went away.
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
    }

    public sealed record SeenRequest(string Method, string Path, WebHeaderCollection Headers)
    {
        public string AllHeaders => Headers.ToString();
    }
}
