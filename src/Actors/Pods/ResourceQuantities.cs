using System.Text.RegularExpressions;
using k8s.Models;

namespace Scheduler.Actors.Pods;

/// <summary>Kubernetes quantities with the API server's grammar. KubernetesClient's parser alone is too lenient
/// (it accepts leading spaces and garbles negative values), so the text is checked first.</summary>
public static partial class ResourceQuantities
{
    [GeneratedRegex("^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex QuantityPattern();

    /// <summary>Parses <paramref name="text"/>; on failure returns null and a reason.</summary>
    public static ResourceQuantity? TryParse(string text, out string? error)
    {
        error = null;
        if (!QuantityPattern().IsMatch(text))
        {
            error = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
            return null;
        }

        if (text.StartsWith('-'))
        {
            error = "a resource quantity must not be negative";
            return null;
        }

        try
        {
            return new ResourceQuantity(text);
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }
    }
}
