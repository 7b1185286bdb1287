"""The lab's loop (issue 24): the worklist a run sends to the lab, the lab's results coming back, the screen verified
on them, the confirmed samples kept for retraining, and the lab's daily check samples. No Streamlit here."""
