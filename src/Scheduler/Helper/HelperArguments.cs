namespace Scheduler.Helper;

/// <summary>Shared rules of the helper commands that talk to GitLab.</summary>
internal static class HelperArguments
{
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
            error = $"cannot read the token file {path}: {ex.Message}";
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
