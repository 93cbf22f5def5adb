// After a form post the API redirects to the thank-you page of the origin the form was on.
for (const field of document.querySelectorAll('input[name="_redirect"]')) {
  field.value = new URL("/thanks", location.origin).href;
}
