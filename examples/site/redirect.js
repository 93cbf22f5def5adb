// After a form post the API redirects to a page of the origin the form was on (the pages
// name http://localhost:8000; the site may be reached under another host or port).
for (const field of document.querySelectorAll('input[name="_redirect"]')) {
  const page = new URL(field.value);
  field.value = new URL(page.pathname + page.search, location.origin).href;
}
