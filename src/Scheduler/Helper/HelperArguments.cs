namespace Scheduler.Helper;

/// <summary>Shared rules of the helper commands that talk to GitLab.</summary>
internal static class HelperArguments
{
    /// <summary>
    /// What went wrong with a file or an archive, in words of our own for the common cases: the native helper is built
    /// without the runtime's message texts, where these exceptions' messages are resource keys (<c>EOCDNotFound</c>,
    /// <c>IO_FileNotFound_FileName, /path</c>). The system's own errors (an IOException from errno) keep their text.
    /// </summary>
    public static string Describe(Exception exception) => exception switch
    {
        FileNotFoundException notFound => $"no such file{Where(notFound.FileName)}",
        DirectoryNotFoundException => "no such directory",
        UnauthorizedAccessException => "permission denied",
        InvalidDataException => "not a zip archive, or a damaged one",
        _ => exception.Message,
    };

    private static string Where(string? path) => string.IsNullOrEmpty(path) ? "" : " " + path;

    /// <summary>The job token from <paramref name="path"/> (tokens never travel in argv, where <c>ps</c> shows them).</summary>
    public static bool TryReadToken(string? path, out string token, out string error)
    {
        token = "";
        error = "";
        if (string.IsNullOrEmpty(path))
        {
            error = "--token-file FILE is required";
            return false;
        }

        try
        {
            token = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read the token file {path}: {Describe(ex)}";
            return false;
        }

        if (token.Length == 0)
        {
            error = $"the token file {path} is empty";
            return false;
        }

        return true;
    }
}
